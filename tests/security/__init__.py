"""Adversarial tests: each attack of spec 3b, seen to succeed before its fix and to fail after."""
