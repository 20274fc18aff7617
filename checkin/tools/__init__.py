"""The five tools a receptionist may use, one module each, and the registry that gates them."""
