# Builds an ElastiCache IAM authentication token the way botocore-based
# clients (redis-py's documentation, AWS samples) do: a presigned "connect"
# URL from RequestSigner.generate_presigned_url, with the scheme removed.
# Usage: botocore_token.py CACHE USER REGION SERVERLESS(0|1) EXPIRES
# The access key and secret come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.
import os
import sys
from urllib.parse import ParseResult, urlencode, urlunparse

import botocore.session
from botocore.credentials import Credentials
from botocore.model import ServiceId
from botocore.signers import RequestSigner

cache, user, region, serverless, expires = sys.argv[1:6]
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
session = botocore.session.get_session()
signer = RequestSigner(ServiceId("elasticache"), region, "elasticache", "v4", creds,
                       session.get_component("event_emitter"))
params = {"Action": "connect", "User": user}
if serverless == "1":
    params["ResourceType"] = "ServerlessCache"
url = urlunparse(ParseResult(scheme="https", netloc=cache, path="/", params="",
                             query=urlencode(params), fragment=""))
signed = signer.generate_presigned_url(
    {"method": "GET", "url": url, "body": {}, "headers": {}, "context": {}},
    operation_name="connect", expires_in=int(expires), region_name=region)
print(signed.removeprefix("https://"))
