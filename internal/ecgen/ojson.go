package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// node is a JSON value that remembers the order of object keys: the model's
// member order is the order of struct fields and of XML elements, and
// encoding/json's maps would lose it.
type node struct {
	kind   byte // 'o' object, 'a' array, 's' string, 'n' number, 'b' bool, 'z' null
	keys   []string
	vals   []*node // object values (parallel to keys) or array elements
	scalar string  // string value, number literal, "true"/"false"
}

func parseJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := parseNode(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("trailing data after JSON value")
	}
	return n, nil
}

func parseNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &node{kind: 'o'}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is %T", kt)
				}
				if n.get(k) != nil {
					return nil, fmt.Errorf("duplicate key %q", k)
				}
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, k)
				n.vals = append(n.vals, v)
			}
			_, err := dec.Token() // '}'
			return n, err
		case '[':
			n := &node{kind: 'a'}
			for dec.More() {
				v, err := parseNode(dec)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
			_, err := dec.Token() // ']'
			return n, err
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &node{kind: 's', scalar: t}, nil
	case json.Number:
		return &node{kind: 'n', scalar: t.String()}, nil
	case bool:
		return &node{kind: 'b', scalar: fmt.Sprint(t)}, nil
	case nil:
		return &node{kind: 'z'}, nil
	}
	return nil, fmt.Errorf("unexpected token %T", tok)
}

// get returns the value of key k of an object, or nil.
func (n *node) get(k string) *node {
	if n == nil || n.kind != 'o' {
		return nil
	}
	for i, key := range n.keys {
		if key == k {
			return n.vals[i]
		}
	}
	return nil
}

// del removes key k of an object, if present.
func (n *node) del(k string) {
	for i, key := range n.keys {
		if key == k {
			n.keys = append(n.keys[:i], n.keys[i+1:]...)
			n.vals = append(n.vals[:i], n.vals[i+1:]...)
			return
		}
	}
}

// sortKeys sorts the keys of an object (used for the maps of operations and
// shapes, never for members).
func (n *node) sortKeys() {
	idx := make([]int, len(n.keys))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return n.keys[idx[a]] < n.keys[idx[b]] })
	keys := make([]string, len(idx))
	vals := make([]*node, len(idx))
	for i, j := range idx {
		keys[i], vals[i] = n.keys[j], n.vals[j]
	}
	n.keys, n.vals = keys, vals
}

// write writes n as indented JSON. Objects and arrays whose members are all
// scalars stay on one line, which keeps the trimmed model short and diffable.
func (n *node) write(b *bytes.Buffer, indent string) {
	switch n.kind {
	case 'o', 'a':
		open, close := byte('{'), byte('}')
		if n.kind == 'a' {
			open, close = '[', ']'
		}
		if len(n.vals) == 0 {
			b.WriteByte(open)
			b.WriteByte(close)
			return
		}
		flat := true
		for _, v := range n.vals {
			if v.kind == 'o' || v.kind == 'a' {
				flat = false
			}
		}
		if flat && len(n.vals) <= 8 {
			b.WriteByte(open)
			for i, v := range n.vals {
				if i > 0 {
					b.WriteString(", ")
				}
				if n.kind == 'o' {
					writeString(b, n.keys[i])
					b.WriteString(": ")
				}
				v.write(b, indent)
			}
			b.WriteByte(close)
			return
		}
		b.WriteByte(open)
		inner := indent + " "
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
			b.WriteString(inner)
			if n.kind == 'o' {
				writeString(b, n.keys[i])
				b.WriteString(": ")
			}
			v.write(b, inner)
		}
		b.WriteByte('\n')
		b.WriteString(indent)
		b.WriteByte(close)
	case 's':
		writeString(b, n.scalar)
	case 'z':
		b.WriteString("null")
	default:
		b.WriteString(n.scalar)
	}
}

func writeString(b *bytes.Buffer, s string) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.WriteString(strings.TrimSuffix(sb.String(), "\n"))
}
