package filter

import (
	"fmt"
	"strings"
)

func typeName(v any) string {
	s := fmt.Sprintf("%T", v)
	s = strings.TrimPrefix(s, "*")
	return s
}
