/* Exact product strings: the wording of these messages is documented for
 * users (product-docs/), so it lives here, once. End-to-end tests compare
 * against the literal documented text. */
#ifndef IDYL_MESSAGES_H
#define IDYL_MESSAGES_H

/* Admission (subnet-runtime-policy, "Workload admission behavior"). */
#define MSG_ISOLATION_CLASS_REQUIRED "isolation.class is required by subnet runtimePolicy"
#define MSG_ISOLATION_CLASS_NOT_ALLOWED                                                            \
        "isolation.class \"%s\" is not allowed by subnet runtimePolicy"

/* Scheduling (subnet-runtime-policy, "Scheduling behavior"). */
#define MSG_NO_COMPATIBLE_NODES                                                                    \
        "no available nodes in subnet %s support requested isolation class %s"
#define MSG_NO_CAPACITY                                                                            \
        "no nodes available in subnet %s with sufficient capacity and generic requirements"

/* Secrets and devices (SPEC 6.3, 6.4). */
#define MSG_SECRET_NOT_FOUND   "secret \"%s\" not found in subnet %s"
#define MSG_DEVICE_NOT_ALLOWED "device \"%s\" is not allowed by subnet devicePolicy"

#endif
