package main

import (
	"fmt"
	"testing"
)

func TestParsePrefixes(t *testing.T) {
	got, err := parsePrefixes(" 10.0.0.0/8, 192.168.1.7 ,::1,, 172.16.5.9/12")
	if err != nil || fmt.Sprint(got) != "[10.0.0.0/8 192.168.1.7/32 ::1/128 172.16.0.0/12]" {
		t.Fatalf("parsePrefixes = %v, %v", got, err)
	}
	if _, err := parsePrefixes("10.0.0.0/8,lb.internal"); err == nil {
		t.Fatal("a host name is accepted")
	}
	if got, err := parsePrefixes(""); err != nil || len(got) != 0 {
		t.Fatalf("parsePrefixes(\"\") = %v, %v", got, err)
	}
}
