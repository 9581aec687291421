package keyward_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDeps keeps the domain free of adapters: the root package imports the
// standard library only, so it never knows about SQL, HTTP, Redis or the
// generated wire types (see the style guide's dependency direction).
func TestDeps(t *testing.T) {
	files, _ := filepath.Glob("*.go")
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range af.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first := strings.Split(path, "/")[0]
			if strings.Contains(first, ".") || first == "keyward" {
				t.Errorf("%s imports %s: the domain package may import only the standard library", f, path)
			}
			for _, banned := range []string{"net/http", "database/sql"} {
				if path == banned {
					t.Errorf("%s imports %s: the domain must not know about transport or storage", f, path)
				}
			}
		}
	}
}
