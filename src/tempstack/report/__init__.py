"""Reports rendered from the journal: JSON, JUnit XML, Markdown summary, HTML, history."""
