"""Grading: pure numeric cores (scoring, marking, statistics, similarity) over numpy arrays.

Nothing in ``scoring``, ``marking``, ``statistics``, ``similarity`` or ``fairness`` touches the
database; the service layer loads arrays, calls them and stores what they return.
"""
