"""机构: the institutions of one platform and what each is authorised for (``registry``)."""
