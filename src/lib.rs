//! oxftp: an embeddable FTP/FTPS server framework.
