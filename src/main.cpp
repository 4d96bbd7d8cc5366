#include "cli/cli.h"

int main(int argc, char** argv) { return exaone::cli::main(argc, argv); }
