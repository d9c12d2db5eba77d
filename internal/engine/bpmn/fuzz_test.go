package bpmn

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary documents to Parse: it must not panic, and whatever it
// accepts must export and import again.
func FuzzParse(f *testing.F) {
	for _, pattern := range []string{"testdata/*.bpmn", "testdata/miwg/*.bpmn"} {
		files, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	f.Add([]byte(`<definitions xmlns="` + NSModel + `"><process id="p"><task id="t"/></process></definitions>`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := ParseBytes(doc)
		if err != nil {
			return
		}
		_ = Check(d)
		_ = NewIndex(d)
		out, err := Marshal(d)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if _, err := ParseBytes(out); err != nil {
			t.Fatalf("re-parse of export: %v\n%s", err, out)
		}
	})
}
