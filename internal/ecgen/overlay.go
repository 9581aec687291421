package main

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
)

// An overlay brings a trimmed botocore model up to a newer aws-sdk-go-v2
// service module. It is a JSON object of the botocore form:
//
//	{"source": {"module": "…/service/elasticache", "version": "v1.65.0"},
//	 "operations": {<operations the SDK has and botocore lacks>},
//	 "shapes": {<shapes that are new, or whose botocore definition changed>}}
//
// Each shape in it is complete (it replaces botocore's): botocore's
// definition with the SDK's new members, enum values and required members
// merged in, every botocore trait the SDK does not carry (lengths,
// patterns, deprecation) kept. deriveOverlay writes it; mergeOverlay
// applies it before generation.

// deriveOverlay compares the trimmed botocore model base with sdk and
// returns the overlay file.
func deriveOverlay(base []byte, sdk *sdkModel, module, version string) ([]byte, error) {
	root, err := parseJSON(base)
	if err != nil {
		return nil, err
	}
	bShapes, bOps := root.get("shapes"), root.get("operations")
	if bShapes == nil || bOps == nil {
		return nil, fmt.Errorf("base model has no shapes or operations")
	}

	// Structures reachable from an input: the SDK validates their required
	// members, so its validators are the whole truth for them.
	inputs := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		s := sdk.Shapes[n]
		if n == "" || inputs[n] || s == nil {
			return
		}
		inputs[n] = true
		for _, m := range s.Members {
			walk(m.Target)
		}
	}
	for _, op := range sdk.Operations {
		walk(op.Input)
	}

	ov := &node{kind: 'o'}
	src := &node{kind: 'o'}
	src.set("module", &node{kind: 's', scalar: module})
	src.set("version", &node{kind: 's', scalar: version})
	ov.set("source", src)

	ops := &node{kind: 'o'}
	for _, name := range sortedKeys(sdk.Operations) {
		op := sdk.Operations[name]
		if b := bOps.get(name); b != nil {
			in, out := str(b.get("input").get("shape")), str(b.get("output").get("shape"))
			if in != op.Input || out != op.Output {
				return nil, fmt.Errorf("operation %s: botocore has input %q output %q, the SDK %q %q", name, in, out, op.Input, op.Output)
			}
			continue
		}
		on := &node{kind: 'o'}
		on.set("name", &node{kind: 's', scalar: name})
		http := &node{kind: 'o'}
		http.set("method", &node{kind: 's', scalar: "POST"})
		http.set("requestUri", &node{kind: 's', scalar: "/"})
		on.set("http", http)
		if op.Input != "" {
			in := &node{kind: 'o'}
			in.set("shape", &node{kind: 's', scalar: op.Input})
			on.set("input", in)
		}
		if op.Output != "" {
			out := &node{kind: 'o'}
			out.set("shape", &node{kind: 's', scalar: op.Output})
			out.set("resultWrapper", &node{kind: 's', scalar: name + "Result"})
			on.set("output", out)
		}
		// The Go SDK carries no per-operation error lists; ecgen
		// generates every error shape of the model regardless.
		on.set("errors", &node{kind: 'a'})
		ops.set(name, on)
	}
	ov.set("operations", ops)

	shapes := &node{kind: 'o'}
	for _, name := range sortedKeys(sdk.Shapes) {
		b := bShapes.get(name)
		want, err := sdkShapeNode(sdk, sdk.Shapes[name], b, inputs[name])
		if err != nil {
			return nil, err
		}
		if b == nil || !want.equal(b) {
			shapes.set(name, want)
		}
	}
	for _, name := range bShapes.keys {
		if sdk.Shapes[name] == nil {
			return nil, fmt.Errorf("shape %s of botocore is not in the SDK; removing shapes is not supported", name)
		}
	}
	ov.set("shapes", shapes)

	var out bytes.Buffer
	ov.write(&out, "")
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// sdkShapeNode returns the botocore form of SDK shape s, starting from
// botocore's definition b (nil for a new shape).
func sdkShapeNode(sdk *sdkModel, s *sdkShape, b *node, input bool) (*node, error) {
	n := b.clone()
	if n == nil {
		n = &node{kind: 'o'}
	}
	typ := s.Type
	if typ == "enum" {
		typ = "string"
	}
	switch typ {
	case "structure", "list", "map", "string", "integer", "long", "boolean", "double", "float", "timestamp", "blob":
	default:
		return nil, fmt.Errorf("shape %s: SDK type %s is not supported", s.Name, s.Type)
	}
	if bt := str(b.get("type")); b != nil && bt != typ {
		return nil, fmt.Errorf("shape %s: botocore type %s, SDK type %s", s.Name, bt, typ)
	}
	n.set("type", &node{kind: 's', scalar: typ})
	str := func(v string) *node { return &node{kind: 's', scalar: v} }
	ref := func(target, xmlName string, old *node) *node {
		r := old.clone()
		if r == nil {
			r = &node{kind: 'o'}
		}
		r.set("shape", str(target))
		if xmlName != "" {
			r.set("locationName", str(xmlName))
		} else {
			r.del("locationName")
		}
		return r
	}
	switch {
	case s.Error != nil:
		et := n.get("error").clone()
		if et == nil {
			et = &node{kind: 'o'}
		}
		et.set("code", str(s.Error.Code))
		et.set("httpStatusCode", &node{kind: 'n', scalar: strconv.Itoa(s.Error.Status)})
		if s.Error.SenderFault {
			et.set("senderFault", &node{kind: 'b', scalar: "true"})
		} else {
			et.del("senderFault")
		}
		if n.get("members") == nil {
			n.set("members", &node{kind: 'o'})
		}
		n.set("error", et)
		n.set("exception", &node{kind: 'b', scalar: "true"})
	case typ == "structure":
		bm := b.get("members")
		ms := &node{kind: 'o'}
		for _, m := range s.Members {
			if m.Target == "" || sdk.Shapes[m.Target] == nil {
				return nil, fmt.Errorf("shape %s: member %s has no target", s.Name, m.Name)
			}
			if m.XMLName != "" {
				return nil, fmt.Errorf("shape %s: member %s has an XML name; not supported", s.Name, m.Name)
			}
			old := bm.get(m.Name)
			r := old.clone()
			if r == nil {
				r = &node{kind: 'o'}
			}
			r.set("shape", str(m.Target))
			ms.set(m.Name, r)
		}
		if bm != nil {
			for _, k := range bm.keys {
				if ms.get(k) == nil {
					return nil, fmt.Errorf("shape %s: botocore member %s is not in the SDK; removing members is not supported", s.Name, k)
				}
			}
		}
		if input {
			req := sdk.Required[s.Name]
			if !sameSet(req, stringVals(b.get("required"))) {
				if len(req) == 0 {
					n.del("required")
				} else {
					rn := &node{kind: 'a'}
					for _, r := range req {
						rn.vals = append(rn.vals, str(r))
					}
					n.set("required", rn)
				}
			}
		}
		// Keep "type", "required", "members" first, as botocore does.
		n.set("members", ms)
	case typ == "list":
		if len(s.Members) != 1 || s.Members[0].Name != "member" {
			return nil, fmt.Errorf("list %s: members %v", s.Name, s.Members)
		}
		n.set("member", ref(s.Members[0].Target, s.Members[0].XMLName, b.get("member")))
	case typ == "map":
		if len(s.Members) != 2 || s.Members[0].Name != "key" || s.Members[1].Name != "value" {
			return nil, fmt.Errorf("map %s: members %v", s.Name, s.Members)
		}
		n.set("key", ref(s.Members[0].Target, s.Members[0].XMLName, b.get("key")))
		n.set("value", ref(s.Members[1].Target, s.Members[1].XMLName, b.get("value")))
	case s.Type == "enum":
		if !sameSet(s.Enum, stringVals(b.get("enum"))) {
			en := &node{kind: 'a'}
			for _, v := range s.Enum {
				en.vals = append(en.vals, str(v))
			}
			n.set("enum", en)
		}
	}
	return n, nil
}

// mergeOverlay applies an overlay to a parsed botocore model and returns
// the overlay's source ("module@version").
func mergeOverlay(root, ov *node) (string, error) {
	src := ov.get("source")
	module, version := str(src.get("module")), str(src.get("version"))
	if module == "" || version == "" {
		return "", fmt.Errorf("overlay has no source module and version")
	}
	for _, k := range ov.keys {
		if k != "source" && k != "operations" && k != "shapes" {
			return "", fmt.Errorf("overlay: unknown key %q", k)
		}
	}
	for _, part := range []string{"operations", "shapes"} {
		dst, add := root.get(part), ov.get(part)
		if dst == nil || add == nil {
			return "", fmt.Errorf("overlay or model lacks %s", part)
		}
		for i, k := range add.keys {
			dst.set(k, add.vals[i])
		}
		dst.sortKeys()
	}
	return module + "@" + version, nil
}

// set replaces the value of key k of an object, or appends it.
func (n *node) set(k string, v *node) {
	for i, key := range n.keys {
		if key == k {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
}

// clone returns a deep copy of n (nil for nil).
func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := &node{kind: n.kind, scalar: n.scalar, keys: append([]string(nil), n.keys...)}
	for _, v := range n.vals {
		c.vals = append(c.vals, v.clone())
	}
	return c
}

// equal reports whether a and b are the same JSON, keys in the same order.
func (n *node) equal(o *node) bool {
	if n.kind != o.kind || n.scalar != o.scalar || len(n.keys) != len(o.keys) || len(n.vals) != len(o.vals) {
		return false
	}
	for i := range n.keys {
		if n.keys[i] != o.keys[i] {
			return false
		}
	}
	for i := range n.vals {
		if !n.vals[i].equal(o.vals[i]) {
			return false
		}
	}
	return true
}

// stringVals returns the string elements of an array node.
func stringVals(n *node) []string {
	if n == nil {
		return nil
	}
	var out []string
	for _, v := range n.vals {
		out = append(out, v.scalar)
	}
	return out
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
