"""The team's CRM: leads and their validation, the pipeline, activities, the team and
who may see what, and the advisory score."""
