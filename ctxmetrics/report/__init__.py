"""What people read: `why`, the digest (Markdown, JSON, HTML, charts), notifications, mutes.
May import: models, wording, store, explain, config, project, errors (words come from `wording`)."""
