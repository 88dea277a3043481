"""One module per provider; each only translates between the Protocol and one wire format."""
