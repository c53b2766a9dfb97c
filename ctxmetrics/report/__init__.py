"""What people read: `why`, the digest (Markdown, JSON, HTML, charts), notifications, mutes, wording.
May import: models, store, timeline, explain, config, project, errors."""
