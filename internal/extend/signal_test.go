package extend

import "os"

var interrupt = os.Interrupt
