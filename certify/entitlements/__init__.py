"""资格衔接: what a certificate counts for — eligibility records for title review, CE hours and
subsidies, the committee's lookup and the exports — and the training track (培训) whose
certificates entitle a subsidy claim."""
