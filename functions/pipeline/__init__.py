"""The Pub/Sub side: mailbox requests in, results out (listing), the event ledger that makes each
event run once, Gmail push notifications and the watches that keep them coming."""
