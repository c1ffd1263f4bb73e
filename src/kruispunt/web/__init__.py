"""Server-rendered pages: templates, vendored static files, the SVG map."""
