package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestZZScratch(t *testing.T) {
	pat := os.Getenv("SCRATCH")
	if pat == "" {
		t.Skip()
	}
	files, _ := filepath.Glob(pat)
	for _, f := range files {
		_, err := Load(f)
		fmt.Printf("== %s\n", f)
		if err != nil {
			fmt.Println(err)
		}
	}
}
