"""Prints the emulator's token-signing key (PEM) from the installed moto package.

The black-box tests sign crafted tokens with it (expired, wrong issuer, ...) so that only the
claim under test is wrong. The key ships inside moto, is the same for every emulator, and is
read at run time: no private key is stored in this repository.
"""
import sys

from joserfc import jwk
from moto.cognitoidp import models

models_source = models.load_resource("cognitoidp/resources/jwks-private.json")
key = jwk.RSAKey.import_key(models_source)
part = sys.argv[1] if len(sys.argv) > 1 else "private"
sys.stdout.write(key.as_pem(private=(part == "private")).decode())
