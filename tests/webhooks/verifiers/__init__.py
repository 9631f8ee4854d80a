"""Tests of the webhook signature verifiers."""
