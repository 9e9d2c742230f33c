package metrics

import "runtime"

// goVersion is a variable so the golden test can pin it.
var goVersion = runtime.Version
