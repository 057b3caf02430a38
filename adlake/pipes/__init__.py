"""Jobs that run outside the Dagster process (on EMR Serverless, Glue, a subprocess) and report back
through Dagster Pipes."""
