"""`canary demo`: a promotion and a rollback on the local sandbox, shown live."""
