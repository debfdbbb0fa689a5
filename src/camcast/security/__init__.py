"""Who may watch: accounts (scrypt-hashed passwords), signed share links, and brute-force limits.

Everything here is stored in the config folder (``$XDG_CONFIG_HOME/camcast``), which is created mode
0700 with files mode 0600. No account, password or key exists until the owner makes one.
"""
