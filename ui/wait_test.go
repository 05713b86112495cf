package ui

import "time"

func afterShort() <-chan time.Time { return time.After(30 * time.Millisecond) }
