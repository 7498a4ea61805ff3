//go:build !linux

package pii

import "time"

// threadCPU is not measured outside Linux; the cpu-MB/s metric is skipped.
func threadCPU() time.Duration { return 0 }
