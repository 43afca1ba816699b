// Command stub stands in for the manager in hack/imagetar's -short test: a static binary that
// says who it is, so the test can run it from the image.
package main

import "fmt"

func main() { fmt.Println("clb-binding-controller image stub") }
