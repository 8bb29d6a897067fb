"""Prefect flows. They only compose tasks; the stage code lives in tasks/."""
