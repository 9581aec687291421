// Command ecgen generates keyward's ElastiCache wire layer (package ecapi)
// from the botocore model of the API.
//
// Trim the botocore model (drops all prose, keeps every wire trait) and
// write it with its README:
//
//	go run ./internal/ecgen -trim <botocore>/data/elasticache/2015-02-02/service-2.json.gz -out ecapi/model/service-2.json
//
// Generate the Go code of package ecapi from the trimmed model (this is what
// `go generate ./ecapi` runs):
//
//	go run ./internal/ecgen -model ecapi/model/service-2.json -out ecapi
//
// The generated files are named *_gen.go, are gofmt'ed and deterministic,
// and start with a "Code generated ... DO NOT EDIT." line naming the SHA-256
// of the model they come from. A test in this package fails when the
// committed files differ from what the committed model generates.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

func main() {
	trim := flag.String("trim", "", "botocore service-2.json(.gz) to trim into -out")
	model := flag.String("model", "", "trimmed model to generate Go code from")
	out := flag.String("out", "", "output file (-trim) or directory (-model)")
	pkg := flag.String("pkg", "ecapi", "package name of the generated code")
	version := flag.String("botocore-version", "", "botocore version for the README (default: read from the botocore package)")
	flag.Parse()
	var err error
	switch {
	case *trim != "" && *out != "":
		err = runTrim(*trim, *out, *version)
	case *model != "" && *out != "":
		err = runGenerate(*model, *out, *pkg)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ecgen:", err)
		os.Exit(1)
	}
}

func runTrim(in, out, version string) error {
	data, err := trimModel(in)
	if err != nil {
		return err
	}
	if version == "" {
		if version, err = botocoreVersion(in); err != nil {
			return err
		}
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(filepath.Dir(out), "README.md"), []byte(readmeText(version)), 0o644)
}

var versionRE = regexp.MustCompile(`(?m)^__version__\s*=\s*['"]([^'"]+)['"]`)

// botocoreVersion reads __version__ from the botocore package that holds
// the model file at path (…/botocore/data/<service>/<version>/service-2.json.gz).
func botocoreVersion(path string) (string, error) {
	dir, _ := filepath.Abs(path)
	for i := 0; i < 6; i++ {
		dir = filepath.Dir(dir)
		src, err := os.ReadFile(filepath.Join(dir, "__init__.py"))
		if err != nil {
			continue
		}
		if m := versionRE.FindSubmatch(src); m != nil && filepath.Base(dir) == "botocore" {
			return string(m[1]), nil
		}
	}
	return "", fmt.Errorf("cannot tell the botocore version of %s; pass -botocore-version", path)
}

func runGenerate(modelPath, outDir, pkg string) error {
	data, err := os.ReadFile(modelPath)
	if err != nil {
		return err
	}
	files, err := generate(data, pkg)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !strings.HasSuffix(n, "_gen.go") {
			return fmt.Errorf("refusing to write %s", n)
		}
		if err := os.WriteFile(filepath.Join(outDir, n), files[n], 0o644); err != nil {
			return err
		}
	}
	return nil
}
