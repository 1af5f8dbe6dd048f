"""What a browser gets: responses and their headers, the pages, their style and languages, and the
strict reading of request parameters."""
