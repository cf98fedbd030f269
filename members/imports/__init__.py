"""File imports: profiles, the one-pass preview that stages rows, and the job that imports them."""
