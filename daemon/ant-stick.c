/* SPDX-License-Identifier: MIT */
/*
 * The ANT stick as a transport (see ant.c for the whole picture): the
 * network key, the tty (finding, opening and configuring it, hotplug,
 * replug with backoff), framed output, the start-up chain (reset ->
 * startup message -> capabilities -> network key -> extended messages),
 * and the input loop that decodes frames and hands answers to the command
 * queue (ant-channels.c, pure), broadcasts and RF events to the channels
 * and straps in ant.c.  The queue's effects live here: stick_transmit()
 * writes its frames, and its one timer (command timeouts, channel
 * reopens) is armed from ant_channels_next_wakeup() after every input,
 * timer or (re)start.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <systemd/sd-device.h>

#include "ant-internal.h"
#include "cleanup.h"
#include "log.h"

static void stick_close(struct ant *a, bool failed);

/* Key ------------------------------------------------------------------- */

/*
 * 8 bytes as hex text: "01 23 45 …", "0x01,0x23,…", "01:23:…" or
 * "012345…"; '#' starts a comment.  Each byte is two hex digits.
 */
static int parse_key(const char *s, uint8_t key[CD_ANT_NETWORK_KEY_SIZE])
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		if (*s == '#') {
			while (s[1] && s[1] != '\n')
				s++;
			continue;
		}
		if (hi < 0 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			s++;
			continue;
		}
		if (isxdigit((unsigned char)*s)) {
			int v = isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10;

			if (hi < 0) {
				hi = v;
				continue;
			}
			if (n >= CD_ANT_NETWORK_KEY_SIZE)
				return -EINVAL;
			key[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
			continue;
		}
		if (isspace((unsigned char)*s) || strchr(",:;-", *s)) {
			if (hi >= 0)
				return -EINVAL; /* a lone digit */
			continue;
		}
		return -EINVAL;
	}
	return n == CD_ANT_NETWORK_KEY_SIZE && hi < 0 ? 0 : -EINVAL;
}

/* Fills a->key, or says in a->reason why not.  Never logs the key. */
int load_key(struct ant *a)
{
	const char *path = a->config->ant_key_file;
	char buf[1024];
	_cleanup_close_ int fd = -EBADF;
	struct stat st;
	ssize_t k;
	int r;

	if (!path) {
		set_state(a, ANT_OFF, "no network key: [ant] network_key_file (--ant-key-file) is not set");
		return -ENOKEY;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(a->reason, sizeof(a->reason), "no network key: cannot read %s: %s", path,
			 strerror(-r));
		a->state = ANT_OFF;
		return r;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & S_IROTH))
		log_warning("ANT+ network key file %s is readable by every user; it should be "
			    "mode 0640 or stricter.",
			    path);
	k = read(fd, buf, sizeof(buf) - 1);
	if (k < 0) {
		r = -errno;
		snprintf(a->reason, sizeof(a->reason), "no network key: cannot read %s: %s", path,
			 strerror(-r));
		a->state = ANT_OFF;
		return r;
	}
	buf[k] = 0;
	r = parse_key(buf, a->key);
	explicit_bzero(buf, sizeof(buf));
	if (r < 0) {
		explicit_bzero(a->key, sizeof(a->key));
		snprintf(a->reason, sizeof(a->reason),
			 "no network key: %s does not hold 8 bytes as hex text", path);
		a->state = ANT_OFF;
		return r;
	}
	a->have_key = true;
	return 0;
}

/* Output ---------------------------------------------------------------- */

static int flush_out(struct ant *a)
{
	while (a->wlen > 0) {
		ssize_t k = write(a->fd, a->wbuf, a->wlen);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		memmove(a->wbuf, a->wbuf + k, a->wlen - (size_t)k);
		a->wlen -= (size_t)k;
	}
	if (a->io)
		(void)sd_event_source_set_io_events(a->io, EPOLLIN | (a->wlen > 0 ? EPOLLOUT : 0));
	return 0;
}

static int send_frame(struct ant *a, const uint8_t *frame, size_t len)
{
	if (a->fd < 0)
		return -ENOTCONN;
	if (a->wlen + len > sizeof(a->wbuf))
		return -ENOBUFS;
	memcpy(a->wbuf + a->wlen, frame, len);
	a->wlen += len;
	return flush_out(a);
}

/* The command/channel machine's effects ------------------------------- */

/* ops->transmit: a stick that cannot take a frame is closed (which resets the machine). */
int stick_transmit(void *userdata, const uint8_t *frame, size_t len)
{
	struct ant *a = userdata;
	int r;

	r = send_frame(a, frame, len);
	if (r < 0) {
		log_warning_errno(r, "Cannot write to the ANT stick %s: %m", a->path);
		stick_close(a, true);
	}
	return r;
}

/* After anything that fed the machine: wake it when it asks to be. */
void channels_rearm(struct ant *a)
{
	uint64_t t = ant_channels_next_wakeup(&a->chans);

	if (!a->timer)
		return;
	if (t == UINT64_MAX) {
		(void)sd_event_source_set_enabled(a->timer, SD_EVENT_OFF);
		return;
	}
	(void)sd_event_source_set_time(a->timer, t);
	(void)sd_event_source_set_enabled(a->timer, SD_EVENT_ONESHOT);
}

int on_channels_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ant *a = userdata;

	(void)s;
	(void)usec;
	ant_channels_wake(&a->chans);
	channels_rearm(a);
	return 0;
}

/* Start-up chain -------------------------------------------------------- */

static void on_enable_ext(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct ant *a = userdata;

	(void)reply;
	a->ext = code == 0;
	start_reception(a);
}

static void on_lib_config(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct ant *a = userdata;
	struct cd_ant_frame f;
	int r;

	(void)reply;
	if (code == 0) {
		a->ext = true;
		start_reception(a);
		return;
	}
	/* §3.2: Enable Extended RX Messages is the older way to the same flag-0x80 format. */
	r = ant_channels_command(&a->chans, cd_ant_build_enable_ext_rx(&f, true), &f,
				 CD_ANT_MSG_CHANNEL_EVENT, on_enable_ext);
	if (r < 0)
		stick_close(a, true);
}

static void on_network_key(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct ant *a = userdata;
	struct cd_ant_frame f;
	int r;

	(void)reply;
	if (code != 0) {
		log_warning("ANT stick %s refused the network key (%s); retrying.", a->path,
			    code < 0 ? "no answer" : cd_ant_code_to_string((uint8_t)code) ?: "error");
		stick_close(a, true);
		return;
	}
	/* §3.4: channel ID (flag 0x80) on every received message. */
	r = ant_channels_command(&a->chans, cd_ant_build_lib_config(&f, CD_ANT_EXT_CHANNEL_ID), &f,
				 CD_ANT_MSG_CHANNEL_EVENT, on_lib_config);
	if (r < 0)
		stick_close(a, true);
}

static void on_capabilities(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct ant *a = userdata;
	struct cd_ant_frame f;
	int r;

	if (code == 0 && reply && cd_ant_parse_capabilities(reply, &a->caps) == 0) {
		a->have_caps = true;
		log_debug("ANT stick: %u channels, %u networks, options 0x%02X 0x%02X.",
			  a->caps.max_channels, a->caps.max_networks, a->caps.advanced_options,
			  a->caps.advanced_options2);
	}
	r = ant_channels_command(&a->chans, cd_ant_build_set_network_key(&f, ANT_NETWORK, a->key),
				 &f, CD_ANT_MSG_CHANNEL_EVENT, on_network_key);
	explicit_bzero(&f, sizeof(f));
	if (r < 0)
		stick_close(a, true);
}

static void send_reset(struct ant *a);

static void on_startup(void *userdata, int code, const struct cd_ant_msg *reply)
{
	struct ant *a = userdata;
	struct cd_ant_frame f;
	uint8_t reason = 0;
	int r;

	if (code != 0) {
		if (++a->reset_tries < RESET_TRIES) {
			send_reset(a);
			return;
		}
		/*
		 * GC gives up waiting after 3 tries and goes on, openant never
		 * waits: a stick that does not send 0x6F may still work.  One
		 * that does not answer the next command is closed and retried.
		 */
		log_notice("ANT stick %s sent no startup message after %u resets; going on.",
			   a->path, RESET_TRIES);
	} else {
		/* §3.3: any reason byte is a startup (ANTUSB-m answers 0x00, AP2 0x20). */
		if (reply)
			(void)cd_ant_parse_startup(reply, &reason);
		log_debug("ANT stick started (reason 0x%02X).", reason);
	}
	a->stick_backoff_s = 0;
	r = ant_channels_command(&a->chans, cd_ant_build_request(&f, 0, CD_ANT_MSG_CAPABILITIES),
				 &f, CD_ANT_MSG_CAPABILITIES, on_capabilities);
	if (r < 0)
		stick_close(a, true);
}

static void send_reset(struct ant *a)
{
	struct cd_ant_frame f;

	a->n.resets++;
	if (ant_channels_command(&a->chans, cd_ant_build_reset(&f), &f, CD_ANT_MSG_STARTUP,
				 on_startup) < 0)
		stick_close(a, true);
}

/* Everything the stick had is gone: start over from a reset. */
void stick_init(struct ant *a)
{
	ant_channels_reset(&a->chans, true);
	straps_forget_link(a);
	a->have_caps = false;
	a->ext = false;
	a->scan_identified = a->scan_unidentified = 0;
	a->reset_tries = 0;
	set_state(a, ANT_INITIALISING, NULL);
	send_reset(a);
	channels_rearm(a);
}

/* Input ----------------------------------------------------------------- */

static void on_message(struct ant *a, const struct cd_ant_msg *m)
{
	struct cd_ant_channel_event e;

	a->n.frames++;
	switch (m->id) {
	case CD_ANT_MSG_CHANNEL_EVENT:
		if (cd_ant_parse_channel_event(m, &e) < 0) {
			a->n.malformed++;
			return;
		}
		if (cd_ant_channel_event_is_rf(&e)) {
			on_rf_event(a, &e);
			return;
		}
		/* A response: to the command in flight, or late, or to nothing we asked. */
		if (!ant_channels_answer(&a->chans, m) && e.code != CD_ANT_RESPONSE_NO_ERROR)
			log_debug("ANT stick: unexpected response %s to 0x%02X on channel %u.",
				  cd_ant_code_to_string(e.code) ?: "?", e.msg_id, e.channel);
		return;
	case CD_ANT_MSG_STARTUP:
		if (ant_channels_answer(&a->chans, m))
			return;
		/* Not asked for: the stick reset itself (watchdog, brown-out); all is lost. */
		if (a->state == ANT_RUNNING || a->state == ANT_INITIALISING) {
			log_warning("ANT stick %s restarted by itself; initialising it again.", a->path);
			stick_init(a);
		}
		return;
	case CD_ANT_MSG_BROADCAST_DATA:
	case CD_ANT_MSG_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_BURST_DATA:
	case CD_ANT_MSG_EXT_BROADCAST_DATA:
	case CD_ANT_MSG_EXT_ACKNOWLEDGED_DATA:
	case CD_ANT_MSG_EXT_BURST_DATA:
		if (a->state == ANT_RUNNING || a->state == ANT_INITIALISING)
			on_data(a, m);
		return;
	case CD_ANT_MSG_SERIAL_ERROR:
		a->n.serial_errors++;
		return;
	default:
		if (ant_channels_answer(&a->chans, m))
			return;
		a->n.unknown++;
		return;
	}
}

static void on_input(struct ant *a, int fd, uint32_t revents)
{
	uint8_t buf[512];

	if (revents & EPOLLIN) {
		for (int i = 0; i < 64 && a->fd >= 0; i++) {
			ssize_t k = read(fd, buf, sizeof(buf));
			const uint8_t *p = buf;
			size_t n;
			struct cd_ant_msg m;

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0 && errno == EAGAIN)
				break;
			if (k <= 0) {
				log_warning("ANT stick %s is gone (%s).", a->path,
					    k == 0 ? "end of file" : strerror(errno));
				stick_close(a, true);
				return;
			}
			n = (size_t)k;
			while (a->fd >= 0 && cd_ant_decoder_feed(&a->decoder, &p, &n, &m) > 0)
				on_message(a, &m);
			a->n.bytes_skipped = a->decoder.n_skipped;
			a->n.bad_checksum = a->decoder.n_bad_checksum;
			if ((size_t)k < sizeof(buf))
				break;
		}
		if (a->fd < 0)
			return;
	}
	if (revents & (EPOLLHUP | EPOLLERR)) {
		log_warning("ANT stick %s hung up.", a->path);
		stick_close(a, true);
		return;
	}
	if (revents & EPOLLOUT) {
		int r = flush_out(a);

		if (r < 0) {
			log_warning_errno(r, "Cannot write to the ANT stick %s: %m", a->path);
			stick_close(a, true);
		}
	}
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
	struct ant *a = userdata;

	(void)s;
	on_input(a, fd, revents);
	channels_rearm(a);
	return 0;
}

/* The tty --------------------------------------------------------------- */

/* The usb_device above a tty: "0fcf:1009" when it is one of ours. */
static bool usb_id_of(sd_device *tty, char ret[10])
{
	sd_device *usb = NULL;
	const char *vid = NULL, *pid = NULL;

	if (sd_device_get_parent_with_subsystem_devtype(tty, "usb", "usb_device", &usb) < 0 ||
	    sd_device_get_sysattr_value(usb, "idVendor", &vid) < 0 ||
	    sd_device_get_sysattr_value(usb, "idProduct", &pid) < 0)
		return false;
	if (strcasecmp(vid, ANT_VENDOR) != 0 || (strcasecmp(pid, PRODUCT_USB1) != 0 &&
						 strcasecmp(pid, PRODUCT_USB2) != 0 &&
						 strcasecmp(pid, PRODUCT_USBM) != 0))
		return false;
	snprintf(ret, 10, "%.4s:%.4s", vid, pid);
	return true;
}

/* [ant] device = auto: the first tty whose USB device is an ANT stick. */
static int find_stick(char **ret_path, char ret_id[10])
{
	_cleanup_(sd_device_enumerator_unrefp) sd_device_enumerator *e = NULL;
	int r;

	r = sd_device_enumerator_new(&e);
	if (r < 0)
		return r;
	r = sd_device_enumerator_add_match_subsystem(e, "tty", true);
	if (r < 0)
		return r;
	for (sd_device *d = sd_device_enumerator_get_device_first(e); d;
	     d = sd_device_enumerator_get_device_next(e)) {
		const char *devname;

		if (!usb_id_of(d, ret_id) || sd_device_get_devname(d, &devname) < 0)
			continue;
		*ret_path = strdup(devname);
		return *ret_path ? 0 : -ENOMEM;
	}
	return -ENODEV;
}

/* A configured path: which stick is it (for CRTSCTS on 0fcf:1004)?  "" when unknown. */
static void usb_id_of_fd(int fd, char ret[10])
{
	_cleanup_(sd_device_unrefp) sd_device *d = NULL;
	struct stat st;

	ret[0] = 0;
	if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) ||
	    sd_device_new_from_devnum(&d, 'c', st.st_rdev) < 0 || !usb_id_of(d, ret))
		ret[0] = 0;
}

static int tty_open(struct ant *a)
{
	_cleanup_close_ int fd = -EBADF;
	struct termios tio;

	fd = open(a->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (a->usb_id[0] == 0)
		usb_id_of_fd(fd, a->usb_id);
	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	/* §3.6: raw 8N1; 115200 baud (ignored by usb_serial_simple, needed by the CP210x). */
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cflag &= ~(tcflag_t)CRTSCTS;
	if (strcasecmp(a->usb_id, ANT_VENDOR ":" PRODUCT_USB1) == 0)
		tio.c_cflag |= CRTSCTS; /* the AP1 flow-controls the CP210x (GC) */
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, B115200) < 0 || cfsetospeed(&tio, B115200) < 0)
		return -errno;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	(void)tcflush(fd, TCIOFLUSH);
	/* Nobody else may open it while we drive it. */
	(void)ioctl(fd, TIOCEXCL);
	return TAKE_FD(fd);
}

int stick_open(struct ant *a)
{
	int fd, r;

	if (a->auto_find) {
		free(a->path);
		a->path = NULL;
		r = find_stick(&a->path, a->usb_id);
		if (r < 0) {
			set_state(a, ANT_WAITING, "no ANT USB stick (0fcf:1004/1008/1009) found");
			return r;
		}
	}
	fd = tty_open(a);
	if (fd < 0) {
		snprintf(a->reason, sizeof(a->reason), "cannot open %s: %s", a->path, strerror(-fd));
		a->state = ANT_WAITING;
		if (!a->warned_open)
			log_warning_errno(fd, "Cannot open the ANT stick %s: %m; retrying.", a->path);
		else
			log_debug_errno(fd, "Cannot open the ANT stick %s: %m", a->path);
		a->warned_open = true;
		return fd;
	}
	a->fd = fd;
	r = sd_event_add_io(a->event, &a->io, fd, EPOLLIN, on_io, a);
	if (r < 0) {
		close(a->fd);
		a->fd = -EBADF;
		return log_error_errno(r, "Cannot watch the ANT stick: %m");
	}
	(void)sd_event_source_set_description(a->io, "ant-tty");
	cd_ant_decoder_init(&a->decoder);
	a->wlen = 0;
	a->warned_open = false;
	a->n.opened++;
	log_info("ANT stick %s%s%s%s opened; initialising it.", a->path, a->usb_id[0] ? " (" : "",
		 a->usb_id, a->usb_id[0] ? ")" : "");
	stick_init(a);
	return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata)
{
	struct ant *a = userdata;

	(void)s;
	(void)usec;
	if (a->fd >= 0 || a->state == ANT_OFF)
		return 0;
	if (stick_open(a) < 0 && a->fd < 0)
		stick_schedule(a, 0);
	return 0;
}

/* Next attempt: delay_us, or 0 = the backoff (path) / RESCAN_US (auto). */
void stick_schedule(struct ant *a, uint64_t delay_us)
{
	int r;

	if (delay_us == 0) {
		if (a->auto_find)
			delay_us = RESCAN_US;
		else {
			a->stick_backoff_s = a->stick_backoff_s == 0
						     ? STICK_BACKOFF_MIN_S
						     : MIN(a->stick_backoff_s * 2, STICK_BACKOFF_MAX_S);
			delay_us = a->stick_backoff_s * USEC_PER_SEC;
		}
	}
	if (!a->retry) {
		r = sd_event_add_time_relative(a->event, &a->retry, CLOCK_MONOTONIC, delay_us, 0,
					       on_retry, a);
		if (r < 0) {
			log_warning_errno(r, "Cannot arm the ANT retry timer: %m");
			return;
		}
		(void)sd_event_source_set_description(a->retry, "ant-retry");
	} else
		(void)sd_event_source_set_time_relative(a->retry, delay_us);
	(void)sd_event_source_set_enabled(a->retry, SD_EVENT_ONESHOT);
}

/* failed: the stick went away or misbehaved, so try again later. */
static void stick_close(struct ant *a, bool failed)
{
	ant_channels_reset(&a->chans, false);
	channels_rearm(a);
	a->io = sd_event_source_disable_unref(a->io);
	if (a->fd >= 0) {
		close(a->fd);
		a->fd = -EBADF;
	}
	a->wlen = 0;
	straps_forget_link(a);
	if (!failed)
		return;
	a->n.lost++;
	a->force_channels = false;
	if (a->auto_find)
		a->usb_id[0] = 0;
	set_state(a, ANT_WAITING, "the stick went away; waiting for it");
	/* A reset that got no answer backs off; an unplugged stick is looked for at once. */
	stick_schedule(a, 0);
}

static int on_hotplug(sd_device_monitor *mon, sd_device *d, void *userdata)
{
	struct ant *a = userdata;
	sd_device_action_t action;
	char id[10];

	(void)mon;
	if (a->fd >= 0 || a->state == ANT_OFF)
		return 0;
	if (sd_device_get_action(d, &action) < 0 || action != SD_DEVICE_ADD)
		return 0;
	if (a->auto_find && !usb_id_of(d, id))
		return 0;
	/* udev has run its rules (group cardiod, 0660) before it tells us. */
	log_debug("ANT: a tty appeared; looking for the stick.");
	a->stick_backoff_s = 0;
	stick_schedule(a, 100 * USEC_PER_MSEC);
	return 0;
}

int hotplug_start(struct ant *a)
{
	int r;

	r = sd_device_monitor_new(&a->hotplug);
	if (r < 0)
		return r;
	r = sd_device_monitor_filter_add_match_subsystem_devtype(a->hotplug, "tty", NULL);
	if (r < 0)
		return r;
	r = sd_device_monitor_attach_event(a->hotplug, a->event);
	if (r < 0)
		return r;
	(void)sd_device_monitor_set_description(a->hotplug, "ant-hotplug");
	return sd_device_monitor_start(a->hotplug, on_hotplug, a);
}
