// The net layer (IPAM, port allocators, netlink, nftables) arrives with the VPC work.
