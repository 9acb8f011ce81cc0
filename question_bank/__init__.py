"""The question bank (考核题库): item files, validation, versioning, sample and synthetic banks.

Paper assembly and rendering join this package in their own issue.
"""
