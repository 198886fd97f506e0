import type { Alert } from '../alert.js';
import type { NotifierOf, NotifierType } from '../../config/alerting.js';

/** What a notifier type contributes: where to POST and what to say. Delivery, retries and state live elsewhere. */
export interface Provider<T extends NotifierType> {
  /** The receiver's JSON body for one notification; pure, so each provider is tested without a network. */
  buildBody(alert: Alert, settings: NotifierOf<T>): unknown;
  /** The request URL from the configured one (most receivers take it as is). */
  endpoint(url: URL): URL;
}

export const asConfigured = (url: URL): URL => url;
