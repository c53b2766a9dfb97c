"""ctxmetrics: why did a funnel metric move? Metrics in DuckDB, a YAML timeline of
business events, change points linked to the events that explain them."""
from ctxmetrics.errors import CtxError
from ctxmetrics.project import Project, init_project, open

__all__ = ["CtxError", "Project", "init_project", "open"]
