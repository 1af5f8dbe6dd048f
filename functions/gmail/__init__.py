"""The Gmail adapter (step 4 of the guide): the API client, a user's session with its retries and
limits, message metadata, and paging through list results."""
