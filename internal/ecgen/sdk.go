package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// The aws-sdk-go-v2 service module is generated from a newer Smithy model
// than the botocore one ecapi started from. Its Go source carries every
// wire trait the Query protocol needs:
//
//   - schemas/schemas.go: each shape (name, type, error code and HTTP
//     status, XML names of list items) and, in init, the members of each
//     shape in model order with their target shapes;
//   - api_op_*.go: the input and output schemas of each operation;
//   - validators.go: the required members of every input structure;
//   - types/enums.go: the wire values of each enum.
//
// It lacks length, range and pattern constraints, per-operation error
// lists and prose; those of shapes botocore already has are kept.

// sdkModel is what readSDK finds in a module.
type sdkModel struct {
	Shapes     map[string]*sdkShape
	Operations map[string]*sdkOp
	// Required lists the required members of the structures the module
	// validates on input (every structure reachable from an input).
	Required map[string][]string
}

type sdkShape struct {
	Name    string
	Type    string // ShapeTypeStructure -> "structure", ShapeTypeEnum -> "enum", ...
	Members []sdkMember
	Enum    []string
	Error   *ErrorTrait
}

type sdkMember struct {
	Name, Target, XMLName string
}

type sdkOp struct {
	Name, Input, Output string
}

// readSDK parses the Go source of an aws-sdk-go-v2 service module.
func readSDK(dir string) (*sdkModel, error) {
	fset := token.NewFileSet()
	parse := func(rel string) (*ast.File, error) {
		f, err := parser.ParseFile(fset, filepath.Join(dir, rel), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	m := &sdkModel{Shapes: map[string]*sdkShape{}, Operations: map[string]*sdkOp{}, Required: map[string][]string{}}

	sf, err := parse("schemas/schemas.go")
	if err != nil {
		return nil, err
	}
	vars := map[string]*sdkShape{} // Go variable -> shape
	for _, d := range sf.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.VAR {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			if len(vs.Values) == 0 {
				continue // var X_Member *smithy.Schema
			}
			if len(vs.Names) != 1 || len(vs.Values) != 1 {
				return nil, fmt.Errorf("schemas.go: %s: unexpected declaration", fset.Position(vs.Pos()))
			}
			s, err := sdkSchema(vs.Values[0])
			if err != nil {
				return nil, fmt.Errorf("schemas.go: %s: %w", fset.Position(vs.Pos()), err)
			}
			if s == nil {
				continue
			}
			vars[vs.Names[0].Name] = s
			if s.Type == "operation" || s.Type == "service" {
				continue
			}
			if m.Shapes[s.Name] != nil {
				return nil, fmt.Errorf("schemas.go: shape %s declared twice", s.Name)
			}
			m.Shapes[s.Name] = s
		}
	}
	for _, d := range sf.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "init" {
			continue
		}
		for _, st := range fd.Body.List {
			// X_Y = X.AddMember("Y", Target, traits...)
			as, ok := st.(*ast.AssignStmt)
			if !ok || len(as.Rhs) != 1 {
				return nil, fmt.Errorf("schemas.go: %s: unexpected statement in init", fset.Position(st.Pos()))
			}
			call, ok := as.Rhs[0].(*ast.CallExpr)
			sel, ok2 := call.Fun.(*ast.SelectorExpr)
			if !ok || !ok2 || sel.Sel.Name != "AddMember" || len(call.Args) < 2 {
				return nil, fmt.Errorf("schemas.go: %s: unexpected statement in init", fset.Position(st.Pos()))
			}
			owner := vars[identName(sel.X)]
			if owner == nil {
				return nil, fmt.Errorf("schemas.go: %s: member of unknown schema", fset.Position(st.Pos()))
			}
			name, err := strconv.Unquote(litValue(call.Args[0]))
			if err != nil {
				return nil, fmt.Errorf("schemas.go: %s: member name", fset.Position(st.Pos()))
			}
			mem := sdkMember{Name: name}
			if x := exprString(call.Args[1]); x != "smithyprelude.Unit" {
				t := vars[x]
				if t == nil {
					return nil, fmt.Errorf("schemas.go: %s: member %s.%s targets unknown %s", fset.Position(st.Pos()), owner.Name, name, x)
				}
				mem.Target = t.Name
			}
			for _, tr := range call.Args[2:] {
				kind, fields, err := sdkTrait(tr)
				if err != nil {
					return nil, fmt.Errorf("schemas.go: %s: %w", fset.Position(tr.Pos()), err)
				}
				if kind != "XMLName" {
					return nil, fmt.Errorf("schemas.go: %s: member trait %s is not supported (teach ecgen about it)", fset.Position(tr.Pos()), kind)
				}
				mem.XMLName = fields["Name"]
			}
			owner.Members = append(owner.Members, mem)
		}
	}

	// Enum values, by Go type (the shape's name).
	ef, err := parse("types/enums.go")
	if err != nil {
		return nil, err
	}
	enumValues := map[string][]string{}
	for _, d := range ef.Decls {
		gd, ok := d.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			typ := identName(vs.Type)
			for _, v := range vs.Values {
				s, err := strconv.Unquote(litValue(v))
				if err != nil || typ == "" {
					return nil, fmt.Errorf("types/enums.go: %s: unexpected constant", fset.Position(v.Pos()))
				}
				enumValues[typ] = append(enumValues[typ], s)
			}
		}
	}
	for _, s := range m.Shapes {
		if s.Type != "enum" {
			continue
		}
		s.Enum = enumValues[s.Name]
		if len(s.Enum) != len(s.Members) {
			return nil, fmt.Errorf("enum %s: %d values in types/enums.go, %d in its schema", s.Name, len(s.Enum), len(s.Members))
		}
		s.Members = nil
	}

	// Operations.
	files, err := filepath.Glob(filepath.Join(dir, "api_op_*.go"))
	if err != nil {
		return nil, err
	}
	for _, path := range files {
		f, err := parse(filepath.Base(path))
		if err != nil {
			return nil, err
		}
		var found *sdkOp
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || exprString(call.Fun) != "smithy.NewOperationSchema" || len(call.Args) != 3 {
				return true
			}
			var names [3]string
			for i, a := range call.Args {
				if x := exprString(a); x != "nil" && x != "smithyprelude.Unit" {
					names[i] = vars[strings.TrimPrefix(x, "schemas.")].Name
				}
			}
			op := &sdkOp{Name: names[0], Input: names[1], Output: names[2]}
			if found != nil && *found != *op {
				err = fmt.Errorf("%s: two different operation schemas", path)
			}
			found = op
			return false
		})
		if err != nil {
			return nil, err
		}
		want := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(path), "api_op_"), ".go")
		if found == nil || found.Name != want {
			return nil, fmt.Errorf("%s: no operation schema for %s", path, want)
		}
		m.Operations[want] = found
	}

	// Required members: validateOp<Op>Input(v *<Op>Input) and
	// validate<Shape>(v *types.<Shape>) add NewErrParamRequired("<Member>").
	vf, err := parse("validators.go")
	if err != nil {
		return nil, err
	}
	for _, d := range vf.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Recv != nil || !strings.HasPrefix(fd.Name.Name, "validate") || len(fd.Type.Params.List) != 1 {
			continue
		}
		star, ok := fd.Type.Params.List[0].Type.(*ast.StarExpr)
		if !ok {
			continue // list validators: []types.X
		}
		var shape string
		switch t := exprString(star.X); {
		case strings.HasPrefix(t, "types."):
			shape = strings.TrimPrefix(t, "types.")
		case strings.HasSuffix(t, "Input") && fd.Name.Name == "validateOp"+t:
			op := m.Operations[strings.TrimSuffix(t, "Input")]
			if op == nil {
				return nil, fmt.Errorf("validators.go: %s for an unknown operation", fd.Name.Name)
			}
			shape = op.Input
		default:
			continue
		}
		if m.Shapes[shape] == nil {
			return nil, fmt.Errorf("validators.go: %s validates unknown shape %s", fd.Name.Name, shape)
		}
		var req []string
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if ok && exprString(call.Fun) == "smithy.NewErrParamRequired" && len(call.Args) == 1 {
				if s, err := strconv.Unquote(litValue(call.Args[0])); err == nil {
					req = append(req, s)
				}
			}
			return true
		})
		m.Required[shape] = req
	}
	return m, nil
}

// sdkSchema reads smithy.NewSchema(smithy.ShapeID{...}, smithy.ShapeTypeX,
// n, traits...); it returns nil for other declarations.
func sdkSchema(e ast.Expr) (*sdkShape, error) {
	call, ok := e.(*ast.CallExpr)
	if !ok || exprString(call.Fun) != "smithy.NewSchema" {
		return nil, nil
	}
	if len(call.Args) < 3 {
		return nil, fmt.Errorf("NewSchema with %d arguments", len(call.Args))
	}
	id, ok := call.Args[0].(*ast.CompositeLit)
	if !ok {
		return nil, fmt.Errorf("NewSchema without a ShapeID literal")
	}
	s := &sdkShape{}
	for _, el := range id.Elts {
		kv := el.(*ast.KeyValueExpr)
		v, err := strconv.Unquote(litValue(kv.Value))
		if err != nil {
			return nil, fmt.Errorf("ShapeID field %s", exprString(kv.Key))
		}
		switch exprString(kv.Key) {
		case "Name":
			s.Name = v
		case "Namespace":
			if v != "com.amazonaws.elasticache" {
				return nil, fmt.Errorf("shape namespace %q", v)
			}
		default:
			return nil, fmt.Errorf("ShapeID field %s", exprString(kv.Key))
		}
	}
	typ := strings.TrimPrefix(exprString(call.Args[1]), "smithy.ShapeType")
	s.Type = strings.ToLower(typ)
	var errTrait ErrorTrait
	var isError bool
	for _, tr := range call.Args[3:] {
		kind, fields, err := sdkTrait(tr)
		if err != nil {
			return nil, err
		}
		switch kind {
		case "Error":
			isError = true
			errTrait.SenderFault = fields["Type"] == "client"
		case "HTTPError":
			if errTrait.Status == 0 {
				errTrait.Status, _ = strconv.Atoi(fields["Code"])
			}
		case "AWSQueryError":
			errTrait.Code = fields["ErrorCode"]
			st, err := strconv.Atoi(fields["StatusCode"])
			if err != nil {
				return nil, fmt.Errorf("shape %s: AWSQueryError StatusCode %q", s.Name, fields["StatusCode"])
			}
			errTrait.Status = st
		case "XMLNamespace":
		default:
			return nil, fmt.Errorf("shape %s: trait %s is not supported (teach ecgen about it)", s.Name, kind)
		}
	}
	if isError {
		if errTrait.Code == "" {
			errTrait.Code = s.Name
		}
		if errTrait.Status == 0 {
			errTrait.Status = 400
		}
		s.Error = &errTrait
	}
	return s, nil
}

// sdkTrait reads &smithytraits.Kind{Field: literal, ...}.
func sdkTrait(e ast.Expr) (string, map[string]string, error) {
	u, ok := e.(*ast.UnaryExpr)
	if !ok || u.Op != token.AND {
		return "", nil, fmt.Errorf("trait %s is not &smithytraits.T{...}", exprString(e))
	}
	cl, ok := u.X.(*ast.CompositeLit)
	if !ok {
		return "", nil, fmt.Errorf("trait %s is not a literal", exprString(e))
	}
	kind := strings.TrimPrefix(exprString(cl.Type), "smithytraits.")
	fields := map[string]string{}
	for _, el := range cl.Elts {
		kv, ok := el.(*ast.KeyValueExpr)
		if !ok {
			return "", nil, fmt.Errorf("trait %s: positional field", kind)
		}
		v := litValue(kv.Value)
		if s, err := strconv.Unquote(v); err == nil {
			v = s
		}
		fields[exprString(kv.Key)] = v
	}
	return kind, fields, nil
}

func identName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

func litValue(e ast.Expr) string {
	if bl, ok := e.(*ast.BasicLit); ok {
		return bl.Value
	}
	return ""
}

// exprString renders identifiers and selectors ("smithy.NewSchema").
func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		return exprString(x.X) + "." + x.Sel.Name
	case *ast.BasicLit:
		return x.Value
	}
	return fmt.Sprintf("%T", e)
}

// sdkModuleVersion reads the module path and version from a module cache
// directory name (…/service/elasticache@v1.65.0).
func sdkModuleVersion(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	base := filepath.Base(abs)
	_, v, ok := strings.Cut(base, "@")
	if !ok || !strings.HasPrefix(v, "v") {
		return "", fmt.Errorf("%s is not a module cache directory (name@version)", dir)
	}
	if _, err := os.Stat(filepath.Join(abs, "schemas", "schemas.go")); err != nil {
		return "", fmt.Errorf("%s: no schemas/schemas.go (the module must be v1.65.0 or later): %w", dir, err)
	}
	return v, nil
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
