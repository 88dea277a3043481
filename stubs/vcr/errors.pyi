class CannotOverwriteExistingCassetteException(Exception):
    cassette: object
    failed_request: object
