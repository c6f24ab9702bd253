package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// profiles holds the --cpuprofile and --memprofile flags of run and sweep.
type profiles struct {
	cpu, mem string
	cpuFile  *os.File
}

// profileFlags registers --cpuprofile and --memprofile on fs.
func profileFlags(fs *flag.FlagSet) *profiles {
	p := &profiles{}
	fs.StringVar(&p.cpu, "cpuprofile", "", "write a CPU profile (runtime/pprof) of the command to FILE")
	fs.StringVar(&p.mem, "memprofile", "", "write a heap profile (runtime/pprof) to FILE when the command ends")
	return p
}

// start begins CPU profiling when --cpuprofile was given.
func (p *profiles) start() error {
	if p.cpu == "" {
		return nil
	}
	f, err := os.Create(p.cpu)
	if err != nil {
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("--cpuprofile: %w", err)
	}
	p.cpuFile = f
	return nil
}

// stop ends CPU profiling and writes the heap profile, after a garbage
// collection so that it shows live objects (the heap the run still
// holds: its results). Like go test -memprofile it writes the "allocs"
// profile, whose samples also count every allocation since the start.
func (p *profiles) stop() error {
	var first error
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			first = fmt.Errorf("--cpuprofile: %w", err)
		}
		p.cpuFile = nil
	}
	if p.mem != "" {
		f, err := os.Create(p.mem)
		if err != nil {
			return errors.Join(first, fmt.Errorf("--memprofile: %w", err))
		}
		runtime.GC()
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return errors.Join(first, fmt.Errorf("--memprofile: %w", err))
		}
	}
	return first
}

// stopInto is stop for a deferred call: a profile that cannot be written
// is reported on stderr and turns the exit status into exitError.
func (p *profiles) stopInto(stderr io.Writer, cmd string, code *int) {
	if err := p.stop(); err != nil {
		fmt.Fprintln(stderr, cmd+":", err)
		*code = exitError
	}
}
