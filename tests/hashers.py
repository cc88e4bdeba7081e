from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with tiny costs so the suite stays fast; same algorithm and hash format as production."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1
