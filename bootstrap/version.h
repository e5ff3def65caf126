/* The version both programs print (--version) and the metrics carry. */
#ifndef PW_BOOTSTRAP_VERSION_H
#define PW_BOOTSTRAP_VERSION_H

#define PW_VERSION "0.10.0"

#endif
