#!/usr/bin/env python3
"""Parse keyward's responses with botocore's own Query protocol parser.

Usage: botocore_parse.py MODEL OVERLAY MANIFEST

MODEL is ecapi/model/service-2.json, OVERLAY ecapi/model/aws-sdk-go-v2.json
(its operations and shapes replace or extend the model's, as ecgen merges
them). MANIFEST is a JSON list of
{"op": operation, "status": HTTP status, "file": response body file, "key": name}.
Prints one JSON object mapping each key to what botocore parsed, with
timestamps as ISO 8601 UTC strings with milliseconds and blobs in base64.
"""
import base64
import datetime
import json
import sys

from botocore.model import ServiceModel
from botocore.parsers import create_parser


def default(o):
    if isinstance(o, datetime.datetime):
        o = o.astimezone(datetime.timezone.utc)
        return o.strftime('%Y-%m-%dT%H:%M:%S.') + '%03dZ' % (o.microsecond // 1000)
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(o).decode()
    raise TypeError(repr(o))


def main():
    with open(sys.argv[1]) as f:
        raw = json.load(f)
    with open(sys.argv[2]) as f:
        overlay = json.load(f)
    for part in ('operations', 'shapes'):
        raw[part].update(overlay[part])
    model = ServiceModel(raw, service_name='elasticache')
    with open(sys.argv[3]) as f:
        manifest = json.load(f)
    parser = create_parser(model.metadata['protocol'])
    out = {}
    for item in manifest:
        op = model.operation_model(item['op'])
        with open(item['file'], 'rb') as f:
            body = f.read()
        response = {'status_code': item['status'], 'headers': {}, 'body': body}
        out[item['key']] = parser.parse(response, op.output_shape)
    json.dump(out, sys.stdout, default=default, sort_keys=True)


if __name__ == '__main__':
    main()
