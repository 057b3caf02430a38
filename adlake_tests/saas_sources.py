"""The two example SaaS sources, as adlake.yaml declares them, pointed at the emulators."""

from __future__ import annotations

from typing import Any

from adlake_tests.emulators.hubspot import TEST_TOKEN
from adlake_tests.emulators.salesforce import (
    API_VERSION,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_REFRESH_TOKEN,
    SalesforceEmulator,
)

SECRETS = {
    "salesforce_client_id": TEST_CLIENT_ID,
    "salesforce_client_secret": TEST_CLIENT_SECRET,
    "salesforce_refresh_token": TEST_REFRESH_TOKEN,
    "hubspot_token": TEST_TOKEN,
}
SOQL = (
    "SELECT Id, FirstName, LastName, Email, Phone, MailingPostalCode, SystemModstamp FROM Contact "
    "WHERE SystemModstamp > {cursor} ORDER BY SystemModstamp"
)


def salesforce_source(emulator: SalesforceEmulator, **resource: Any) -> dict[str, Any]:
    """A Salesforce-style source of contacts: SOQL, nextRecordsUrl, SystemModstamp, OAuth."""
    return {
        "kind": "rest",
        "base_url": f"{emulator.base_url}/services/data/{API_VERSION}",
        "auth": {
            "type": "oauth2_refresh_token",
            "token_url": emulator.token_url,
            "client_id": "salesforce_client_id",
            "client_secret": "salesforce_client_secret",
            "refresh_token": "salesforce_refresh_token",
        },
        "resources": {
            "contacts": {
                "path": "/query",
                "params": {"q": SOQL},
                "headers": {"Sforce-Query-Options": "batchSize=2000"},
                "records": "$.records",
                "paginator": {"type": "next_url", "next_url_path": "$.nextRecordsUrl"},
                "incremental": {
                    "cursor_field": "SystemModstamp",
                    "start": "2025-12-31T00:00:00Z",
                },
                "columns": {
                    "id": {"type": "string", "source": "Id", "required": True},
                    "first_name": {
                        "type": "string",
                        "source": "FirstName",
                        "pii": {"policy": "sha256", "identifier": "first_name"},
                    },
                    "email": {
                        "type": "string",
                        "source": "Email",
                        "pii": {"policy": "sha256", "identifier": "email"},
                    },
                    "phone": {
                        "type": "string",
                        "source": "Phone",
                        "pii": {"policy": "sha256", "identifier": "phone"},
                    },
                    "system_modstamp": {"type": "timestamp_tz", "source": "SystemModstamp"},
                },  # fmt: skip
                "primary_key": ["id"],
                **resource,
            }
        },
    }


def hubspot_source(base_url: str, **contacts: Any) -> dict[str, Any]:
    """A HubSpot-style source: contacts by search on lastmodifieddate, campaigns and metrics."""
    return {
        "kind": "rest",
        "base_url": base_url,
        "auth": {"type": "bearer", "token": "hubspot_token"},
        "resources": {
            "contacts": {
                "path": "/crm/v3/objects/contacts/search",
                "method": "POST",
                "json": {
                    "filterGroups": [
                        {
                            "filters": [
                                {
                                    "propertyName": "lastmodifieddate",
                                    "operator": "GT",
                                    "value": "{cursor}",
                                }
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": ["email", "firstname", "phone", "lastmodifieddate"],
                    "limit": 200,
                },
                "records": "$.results",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "$.paging.next.after",
                    "param": "after",
                },
                "incremental": {
                    "cursor_field": "properties.lastmodifieddate",
                    "start": "2025-12-31T00:00:00Z",
                    "format": "epoch_ms",
                    "max_records_per_query": 10_000,
                },
                "columns": {
                    "id": {"type": "string", "required": True},
                    "email": {
                        "type": "string",
                        "source": "properties.email",
                        "pii": {"policy": "sha256", "identifier": "email"},
                    },
                    "phone": {
                        "type": "string",
                        "source": "properties.phone",
                        "pii": {"policy": "sha256", "identifier": "phone"},
                    },
                    "updated_at": {"type": "timestamp_tz", "source": "updatedAt"},
                },  # fmt: skip
                "primary_key": ["id"],
                **contacts,
            },
            "campaigns": {
                "path": "/marketing/v3/campaigns",
                "params": {"limit": 10, "properties": "hs_name"},
                "records": "$.results",
                "paginator": {
                    "type": "cursor",
                    "cursor_path": "$.paging.next.after",
                    "param": "after",
                },
                "columns": {
                    "id": {"type": "string", "required": True},
                    "name": {"type": "string", "source": "properties.hs_name"},
                },
                "primary_key": ["id"],
            },
            "campaign_metrics": {
                "path": "/marketing/v3/campaigns/{campaign_id}/reports/metrics",
                "params": {"startDate": "2026-01-01", "endDate": "2026-01-31"},
                "parent": {"resource": "campaigns", "fields": {"campaign_id": "id"}},
                "columns": {
                    "campaign_id": {"type": "string", "required": True},
                    "sessions": {"type": "bigint"},
                    "influenced_contacts": {"type": "bigint", "source": "influencedContacts"},
                },
                "primary_key": ["campaign_id"],
            },
        },
    }
