"""Gmail server-side authorization on Google Cloud Functions.

The package follows the steps of Google's guide "Implement server-side authorization"
(https://developers.google.com/workspace/gmail/api/auth/web-server): authorize → exchange →
identify → store → list. ``main.py`` holds the deployable entry points; everything they do lives
here, one concern per module.
"""
