package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
)

// proseKeys are removed wherever traits may stand: they are prose (or
// examples) and carry nothing the wire format depends on.
var proseKeys = []string{"documentation", "documentationUrl", "deprecatedMessage", "examples"}

// trimModel reads a botocore service-2.json (gzip-compressed or not) and
// returns the trimmed model: everything but prose, with operations and
// shapes sorted by name and members in model order.
func trimModel(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		if raw, err = io.ReadAll(zr); err != nil {
			return nil, err
		}
	}
	root, err := parseJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if root.kind != 'o' {
		return nil, fmt.Errorf("%s: not a JSON object", path)
	}
	stripProse(root)
	if md := root.get("metadata"); md != nil {
		stripProse(md)
	}
	ops := root.get("operations")
	if ops == nil || ops.kind != 'o' {
		return nil, fmt.Errorf("%s: no operations", path)
	}
	ops.sortKeys()
	for _, op := range ops.vals {
		stripProse(op)
		for _, k := range []string{"input", "output"} {
			stripProse(op.get(k))
		}
		if errs := op.get("errors"); errs != nil {
			for _, e := range errs.vals {
				stripProse(e)
			}
		}
	}
	shapes := root.get("shapes")
	if shapes == nil || shapes.kind != 'o' {
		return nil, fmt.Errorf("%s: no shapes", path)
	}
	shapes.sortKeys()
	for _, s := range shapes.vals {
		stripProse(s)
		for _, k := range []string{"member", "key", "value"} {
			stripProse(s.get(k))
		}
		if ms := s.get("members"); ms != nil {
			for _, m := range ms.vals {
				stripProse(m)
			}
		}
	}
	var b bytes.Buffer
	root.write(&b, "")
	b.WriteByte('\n')
	return b.Bytes(), nil
}

func stripProse(n *node) {
	if n == nil || n.kind != 'o' {
		return
	}
	for _, k := range proseKeys {
		n.del(k)
	}
}

// readmeText is ecapi/model/README.md, written next to the trimmed model.
func readmeText(version string) string {
	return strings.TrimLeft(`
# ElastiCache service model

service-2.json is the Amazon ElastiCache API model, version 2015-02-02, as
shipped in botocore `+version+` (data/elasticache/2015-02-02/service-2.json.gz),
with all prose removed: documentation strings, deprecation messages and
examples. Every trait the wire format depends on is kept (types, members and
their order, locationName, required, min, max, pattern, enum, error,
exception, flattened, resultWrapper, xmlNamespace...).

The model is Copyright Amazon.com, Inc. or its affiliates and is licensed
under the Apache License, Version 2.0, as botocore is
(http://www.apache.org/licenses/LICENSE-2.0).

Regenerate the trimmed model from an installed botocore with

    go run ./internal/ecgen -trim "$(python3 -c 'import botocore, os; print(os.path.dirname(botocore.__file__))')/data/elasticache/2015-02-02/service-2.json.gz" -out ecapi/model/service-2.json

and the Go code from it with `+"`go generate ./ecapi`"+`. Never edit either by hand.

## The aws-sdk-go-v2 overlay

aws-sdk-go-v2.json brings the botocore model up to the aws-sdk-go-v2
service/elasticache module that go.mod requires, which AWS generates from a
newer model: operations botocore lacks (PrepareMigration, StopMigration),
new members of existing shapes, new shapes, enum values and faults, and the
required members the SDK validates on input. Each shape in it is complete
and replaces botocore's; botocore's traits the SDK does not carry (lengths,
patterns) are kept. ecgen derives it from the module's Go source in the
module cache (schemas/schemas.go, api_op_*.go, validators.go,
types/enums.go):

    go run ./internal/ecgen -model ecapi/model/service-2.json -sdk module -overlay ecapi/model/aws-sdk-go-v2.json

which is the first step of `+"`go generate ./ecapi`"+`. The Go SDK carries no
per-operation error lists, so the operations it adds list none; ecgen
generates every fault of the model regardless. A test fails when the
overlay differs from what the module in go.mod yields.
`, "\n")
}
