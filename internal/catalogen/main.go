// Command catalogen generates package catalog's tables (catalog_gen.go)
// from the TSV files in catalog/data, which were written by hand from
// ElastiCache's documentation (catalog/data/README.md names the sources).
//
// Run it with `go generate ./catalog`.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	data := flag.String("data", "data", "directory with the TSV sources")
	out := flag.String("out", "catalog_gen.go", "file to write")
	flag.Parse()
	src, err := generate(os.DirFS(*data))
	if err != nil {
		fmt.Fprintln(os.Stderr, "catalogen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Clean(*out), src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "catalogen:", err)
		os.Exit(1)
	}
}
